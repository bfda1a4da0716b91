"""Honest evaluation: metrics, the validation-then-test protocol, tables and the HTML report."""
