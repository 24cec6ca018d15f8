"""The environment of a safe production deployment, for tests that need `APP_ENV=production`
to start (each rule of docflow.common.production is met; the secrets are fake)."""

from __future__ import annotations

SAFE_PRODUCTION = {
    "APP_ENV": "production",
    "MONGODB_URI": "mongodb://docflow:s3cr3t-Pa55@db1:27017,db2:27017/?tls=true&replicaSet=rs0",
    "REDIS_URL": "rediss://:s3cr3t-Pa55@cache:6380/0",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_USERNAME": "docflow",
    "KAFKA_SASL_PASSWORD": "s3cr3t-Pa55",
    "CORS_ORIGINS": "https://app.example",
}
