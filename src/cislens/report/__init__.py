"""The self-contained HTML report (``cislens report`` and the demo's ``report.html``).

- :func:`render_report`: write one HTML file, images embedded as base64 PNG, all text escaped;
- :func:`plot_logo`, :func:`plot_track`: sequence logos of matrices and attribution tracks.
- the ARGMINN section (filter table, filter logos, attention maps) is read from a run's
  ``argminn/`` folder by :func:`cislens.report._argminn.load_argminn_report`.
"""

from cislens.report.figures import figure_to_base64, plot_logo, plot_track
from cislens.report.html import OPTIONAL_SECTIONS, SECTIONS, render_report

__all__ = [
    "OPTIONAL_SECTIONS",
    "SECTIONS",
    "figure_to_base64",
    "plot_logo",
    "plot_track",
    "render_report",
]
