"""Operations: Prometheus metrics, structured logs, optional OpenTelemetry traces."""
