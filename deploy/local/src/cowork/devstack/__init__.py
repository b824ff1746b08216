"""The local stack: real Apache Kafka (KRaft) and PostgreSQL as plain processes."""

from cowork.devstack.stack import StackConfig, StackError, down, status, up

__all__ = ["StackConfig", "StackError", "down", "status", "up"]
