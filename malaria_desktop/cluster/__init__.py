"""A reference lab's archive: ``s3://`` inputs and outputs and the Ray engine for ``analyze`` (issue 23).

Why a package of its own, outside ``core``: boto3 and Ray are large, networked dependencies that a
clinic PC never needs. They live in the ``cluster`` extra (``pip install malaria-desktop[cluster]``),
are imported only when an ``s3://`` path or ``--engine ray`` is used (``malaria_desktop.cluster_cli``
hands over to ``run``), and this package is left out of the desktop bundle (``packaging/bundle_helpers.py``).
The analysis itself is core's, unchanged: a worker runs the same ``core.pipeline.analyze_images`` on one
image, so results are identical to the desktop's.

Modules: ``storage`` (list and fetch objects, S3 errors in plain words), ``s3_output`` (a report published
whole, manifest last), ``sources`` (mixed inputs, one image wherever it lives, the local engine),
``engine_ray`` (actors with one model session each), ``run`` (what the CLI calls). Importing any of them
loads neither boto3 nor Ray.
"""

from malaria_desktop.paths import S3_SCHEME, is_s3_uri

is_s3 = is_s3_uri

__all__ = ["S3_SCHEME", "is_s3"]
