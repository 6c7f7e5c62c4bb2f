"""Capacity sweep for the engine-free k-means state (no Spark): update time and cost
relative to scikit-learn for extraCenterFactor values, 500k x 32 blobs, 8 streams merged.

    python benchmarks/kmeans_capacity_sweep.py auto 4 10
"""
import numpy as np, time, sys
from sagespark.states import KMeansState
from sagespark.kernels.kmeans import nearest_centers
from sklearn.cluster import KMeans
rng = np.random.default_rng(0)
n, d = 500000, 32
sizes = rng.dirichlet(np.ones(50)*2) ; sizes = (sizes*n).astype(int)
means = rng.normal(0, 10, (50, d))
X = np.vstack([rng.normal(m, 1.0 + rng.random()*2, (s, d)) for m, s in zip(means, sizes)]); rng.shuffle(X)
KMeansState(10).update(X[:20000]).finalize()
for k in (10, 100):
    sk = KMeans(k, n_init=1, random_state=0, max_iter=300).fit(X[::5]); skc = nearest_centers(X, sk.cluster_centers_)[1].sum()
    for ecf in sys.argv[1:]:
        parts = np.array_split(X, 8)
        t = time.time()
        st = None
        for i, p in enumerate(parts):
            s = KMeansState(k, extra_center_factor=ecf, seed=1, stream_id=i).update(p)
            st = s if st is None else st.merge(s)
        t1 = time.time() - t
        sol = st.finalize(); t2 = time.time() - t
        c = nearest_centers(X, sol.centers)[1].sum()
        print(k, ecf, st.capacity, f"update {t1:.2f}s total {t2:.2f}s ratio to sklearn {c/skc:.4f}")
