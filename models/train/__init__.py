"""Train the project's own French→English Marian model on CPU, from raw corpora to a served model.

The pipeline, one module per step:

* :mod:`.data` — read the gzip corpora, normalise, filter, deduplicate, hold out pairs;
* :mod:`.tokenize` — SentencePiece models and the token-id arrays the trainer reads;
* :mod:`.batching` — length-bucketed token batches that can resume mid-epoch;
* :mod:`.loop` — the training loop: checkpoints, resume, periodic evaluation;
* :mod:`.export` — a checkpoint → Hugging Face Marian dir → CTranslate2 model + model card;
* :mod:`.evaluate` — BLEU/chrF of a converted model on the dev set and the seed article.

Run everything with ``python -m alinea.models.train --work-dir DIR`` (see docs/training.md).
"""
