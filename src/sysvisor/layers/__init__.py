"""Layers shipped with sysvisor."""
