"""Spark application: simulate a noisy measurement N times at one point of the sweep.

Usage: spark-submit simulate.py RATE SEED SAMPLES VALUES METRICS

VALUES is written as a CSV table with a header (a directory of part files, as Spark
writes tables); METRICS as a JSON file of the mean and its error.
"""

import json
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main(rate, seed, samples, values, metrics):
    spark = SparkSession.builder.appName("simulate").getOrCreate()
    draws = (
        spark.range(samples)
        .select(F.col("id").alias("i"), (F.randn(seed) + rate).alias("value"))
        .cache()
    )
    draws.write.csv(values, header=True, mode="overwrite")
    mean = draws.agg(F.avg("value")).first()[0]
    with open(metrics, "w") as f:
        json.dump({"mean": mean, "error": abs(mean - rate)}, f)
    spark.stop()


if __name__ == "__main__":
    rate, seed, samples, values, metrics = sys.argv[1:6]
    main(float(rate), int(seed), int(samples), values, metrics)
