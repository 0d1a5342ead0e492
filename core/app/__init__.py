"""App services: what the dashboard calls (attack runs, scans, figures, page summaries), never an experiment."""
