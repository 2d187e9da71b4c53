"""The text side of ECAMP: entity lexicon, context distillation, tokenizer, entity-aware masking."""
