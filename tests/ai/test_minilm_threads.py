"""MiniLM runs torch on one thread (``ai/encoders.py`` ``TORCH_THREADS``): with two on a
2-core machine shared with the server's loop, a question cost ~8× the CPU
(``benchmarks/bench_minilm_threads.py``)."""

from __future__ import annotations

import pytest

from handoff_server.ai import embeddings_available


@pytest.mark.skipif(not embeddings_available(), reason="the 'embeddings' extra is not installed")
def test_minilm_runs_torch_on_one_thread() -> None:
    import torch

    from handoff_server.ai.encoders import TORCH_THREADS, MiniLMEncoder

    MiniLMEncoder().transform(["load the model"])
    torch.set_num_threads(2)  # torch's default here (one per core), or a library's
    vectors = MiniLMEncoder().transform(["how do I reset my password"])
    assert vectors.shape == (1, 384)
    assert TORCH_THREADS == 1 and torch.get_num_threads() == 1
