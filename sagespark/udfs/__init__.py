"""Code that runs inside Spark's Python workers: decode Arrow batches into numpy, fold a
partition into a state, score a batch. No JVM code and no DataFrame building here."""
