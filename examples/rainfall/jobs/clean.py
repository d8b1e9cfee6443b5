"""Spark application: clean raw gauge readings and compute nowcasting features.

Usage: spark-submit clean.py RAW OUT THRESHOLD_MM

RAW is a CSV table (station, time, mm, pressure_hpa, humidity_pct). OUT is written as a
CSV table with a header: a directory of part files, as Spark writes tables. Each output
row describes one station at one hour and says, in `extreme`, whether the *next* hour's
rain reaches THRESHOLD_MM.
"""

import sys

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType, TimestampType

RAW_SCHEMA = StructType(
    [
        StructField("station", StringType(), False),
        StructField("time", TimestampType(), False),
        StructField("mm", DoubleType(), True),
        StructField("pressure_hpa", DoubleType(), True),
        StructField("humidity_pct", DoubleType(), True),
    ]
)


def main(raw, out, threshold_mm):
    spark = SparkSession.builder.appName("rainfall-clean").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")

    readings = (
        spark.read.csv(
            raw,
            header=True,
            schema=RAW_SCHEMA,
            timestampFormat="yyyy-MM-dd'T'HH:mm:ssX",
        )
        # Gauges report negative or missing values when they fail: drop those readings.
        .where(F.col("mm").isNotNull() & (F.col("mm") >= 0))
        .where(F.col("pressure_hpa").isNotNull() & F.col("humidity_pct").isNotNull())
        .dropDuplicates(["station", "time"])
    )

    by_station = Window.partitionBy("station").orderBy("time")
    features = (
        readings.withColumn("hour", F.hour("time"))
        .withColumn("mm_lag1", F.lag("mm", 1).over(by_station))
        .withColumn("mm_lag2", F.lag("mm", 2).over(by_station))
        .withColumn("mm_sum3h", F.round(F.col("mm") + F.col("mm_lag1") + F.col("mm_lag2"), 1))
        # Change of pressure over the last three hours, as forecasters read it.
        .withColumn(
            "pressure_tendency",
            F.round(F.col("pressure_hpa") - F.lag("pressure_hpa", 3).over(by_station), 1),
        )
        .withColumn("next_mm", F.lead("mm", 1).over(by_station))
        .where(F.col("pressure_tendency").isNotNull() & F.col("next_mm").isNotNull())
        .withColumn("extreme", (F.col("next_mm") >= F.lit(threshold_mm)).cast("int"))
        .select(
            "station",
            F.date_format("time", "yyyy-MM-dd'T'HH:mm:ss'Z'").alias("time"),
            "hour",
            "mm",
            "mm_lag1",
            "mm_lag2",
            "mm_sum3h",
            "pressure_tendency",
            "humidity_pct",
            "extreme",
        )
        .orderBy("station", "time")
    )

    # The table is small: one part file keeps it easy to read for the training step.
    features.coalesce(1).write.mode("overwrite").csv(out, header=True)
    spark.stop()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: clean.py RAW OUT THRESHOLD_MM")
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
