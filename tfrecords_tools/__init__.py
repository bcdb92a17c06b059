"""Dataset readers and the TFRecord writer behind `emorec convert`.

    from tfrecords_tools import convert_dataset
    report = convert_dataset("emodb", "../shared/data/emodb", "out/emodb")

Layouts are plug-ins: every module of `tfrecords_tools/layouts/` that declares a `LAYOUT`
(`available_layouts()` lists them). The output folder holds `<partition>-NNNNN-of-MMMMM.tfrecord` shards (schema in
`emorec.data.schema`) and `manifest.json` (read it with `emorec.data.manifest.read_manifest`).
"""
from tfrecords_tools.convert import convert_dataset  # noqa: F401
from tfrecords_tools.layouts import available_layouts, get_layout  # noqa: F401
from tfrecords_tools.report import ConversionReport, format_info  # noqa: F401

__all__ = ["convert_dataset", "ConversionReport", "format_info", "available_layouts", "get_layout"]
