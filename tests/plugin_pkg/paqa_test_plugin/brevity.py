"""Reward ``brevity``: 1 for completions of at most 50 words, 0 otherwise."""


def brevity_reward(completions, **_) -> list[float]:
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [1.0 if len(t.split()) <= 50 else 0.0 for t in texts]
