"""The text side of ECAMP: entity lexicon, context distillation, tokenizer, entity-aware masking.

Modules: ``entities`` (lexicon, whole-word search), ``tokenizer`` (WordPiece train/save/load), ``context``
(context insertion), ``masking`` (:class:`TextBatcher`, :class:`MaskingConfig`), ``loss`` (``mlm_loss``),
``distill`` (backend protocol, context file, resumable runner, ``load_contexts``) with the backends
``distill_rules``, ``distill_llm`` and ``distill_import``.
"""
