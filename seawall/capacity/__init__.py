"""Capacity planning (``seawall capacity ENV``): utilisation, forecasts and sizing advice from the
environment's own Prometheus, the model's sizes and the DigitalOcean size table.

``prometheus`` asks Prometheus' HTTP API for range data, ``forecast`` fits the trends (least squares,
as ``predict_linear`` does), ``plan`` turns them into a report with recommendations, and ``propose``
writes them as a patch to the environment's file.
"""
