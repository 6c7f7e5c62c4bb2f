"""One module per algorithm family: its params, Estimator and Model (on the skeleton of
sagespark.spark.onepass), named as its state module in sagespark.states and its kernel
module in sagespark.kernels. Users import the stages from pyspark.ml's module names
(sagespark.clustering, .feature, .classification, .regression), which re-export them;
``spark.persistence.saved_as`` gives each class that public path.
"""
