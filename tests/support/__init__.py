"""Shared test helpers: throwaway servers started per test session."""
