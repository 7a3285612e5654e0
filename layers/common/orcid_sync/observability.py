"""One shared set of Powertools utilities; service name and namespace come from POWERTOOLS_* env vars.

The template turns Active tracing on, so on Lambda the Tracer is live and imports the X-Ray SDK as it
is built. It patches only the libraries this code calls: botocore at once (every function uses
boto3), and requests when something first imports it (the ORCID client) rather than now, so a function
that never calls ORCID never imports requests. Powertools' default, ``patch_all``, would import
requests and sqlite3 and try a dozen database drivers at every cold start; the traces are the same.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

# The libraries whose calls show as subsegments: AWS (botocore) and ORCID (requests).
PATCHED_NOW = ("botocore",)
PATCHED_WHEN_IMPORTED = ("requests",)

logger = Logger()
tracer = Tracer(patch_modules=PATCHED_NOW)
metrics = Metrics()


def _patch_on_import(module_name: str) -> None:
    import wrapt  # noqa: PLC0415 - the X-Ray SDK's own dependency, needed only when tracing is live

    def patch(_module: object) -> None:
        tracer.patch([module_name])

    # Called at once if the module is already imported, else right after its first import.
    wrapt.register_post_import_hook(patch, module_name)


if not tracer.disabled:
    for _name in PATCHED_WHEN_IMPORTED:
        _patch_on_import(_name)
