"""Typed pydantic models for every section of an llm config, one module per concept.

The models only describe shapes, defaults and ranges of single fields. Rules that relate several
fields live in :mod:`llm_magic.runtime.config.rules`, so that all of them can be checked at once.
"""
