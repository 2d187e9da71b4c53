"""The layout toolkit: what the layout readers (``plugins/layouts/<data set>.py``) are built from.

- :mod:`~ecamp_bench.data.layout_kit.csv_rows`: :class:`Problems` (collect or raise), :class:`SeenIds` (duplicate
  image ids), ``read_csv`` (tolerant, all strings), ``line_of`` (file line numbers), ``parse_float``;
- :mod:`~ecamp_bench.data.layout_kit.image_files`: ``check_image`` (a listed image exists; queue its decode check);
- :mod:`~ecamp_bench.data.layout_kit.scan`: ``read_table`` (strict) and ``validate_tree`` (every problem) over one
  scan function per layout.

None of them imports pandas or numpy at import time, so a layout plugin that imports them registers cheaply.
"""
