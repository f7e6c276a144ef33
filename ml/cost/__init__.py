"""`mlops cost`: a month of a stack, estimated from its rendered graph (docs/cost.md)."""
