"""Spark application of the injection test: writes its arguments after the first as a
JSON list to the file named by the first, through Spark, so that the words are the ones
the driver received.

Usage: spark-submit argv_app.py OUT WORD...
"""

import json
import sys

from pyspark.sql import SparkSession


def main(out, words):
    spark = SparkSession.builder.getOrCreate()
    # The words make a round trip through a DataFrame, as an application's data would.
    rows = spark.createDataFrame([(i, w) for i, w in enumerate(words)], "i INT, w STRING")
    back = [r.w for r in sorted(rows.collect(), key=lambda r: r.i)]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(back, f, ensure_ascii=False)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
