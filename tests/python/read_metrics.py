"""Reads a server's /metrics with Prometheus's own Python parser and prints every sample as one
JSON object {"name{label=value,...}": value}.

Usage: read_metrics.py URL. Fails (exit 1) on text the OpenMetrics parser does not accept.
"""
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
    text = response.read().decode("utf-8")

samples = {}
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        labels = ",".join("%s=%s" % item for item in sorted(sample.labels.items()))
        key = "%s{%s}" % (sample.name, labels) if labels else sample.name
        samples[key] = sample.value
print(json.dumps(samples, sort_keys=True))
