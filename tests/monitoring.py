"""What an orchestrator and Prometheus read: the token they are given, and the metrics' scrape read as samples."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "s3cret-token"


def metrics(api) -> dict[str, float]:
    """Each sample of the scrape, keyed by its name and its labels in alphabetical order."""
    text = api("/metrics").get_data(as_text=True)
    return {_key(sample): sample.value for family in text_string_to_metric_families(text) for sample in family.samples}


def _key(sample) -> str:
    labels = ",".join(f'{name}="{value}"' for name, value in sorted(sample.labels.items()))
    return f"{sample.name}{{{labels}}}" if labels else sample.name
