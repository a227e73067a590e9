"""Data sources: each yields a plaintext reader plus metadata recorded in the manifest."""
