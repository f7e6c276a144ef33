"""The audit: policy pack results and IAM lint over the offline graph, as reports."""
