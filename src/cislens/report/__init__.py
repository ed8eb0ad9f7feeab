"""The self-contained HTML report (``cislens report`` and the demo's ``report.html``).

- :func:`render_report`: write one HTML file, images embedded as base64 PNG, all text escaped;
- :func:`plot_logo`, :func:`plot_track`: sequence logos of matrices and attribution tracks.
"""

from cislens.report.figures import figure_to_base64, plot_logo, plot_track
from cislens.report.html import SECTIONS, render_report

__all__ = ["SECTIONS", "figure_to_base64", "plot_logo", "plot_track", "render_report"]
