"""Spark glue that knows no algorithm: reading features, the fold and tree merge,
shared Params, persistence, the local session."""
