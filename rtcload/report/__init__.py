"""Run reports: self-contained HTML with inline SVG charts, readable offline and in CI artifacts."""
