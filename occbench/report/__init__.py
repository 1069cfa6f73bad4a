"""Reading results: leaderboards (Markdown + CSV) and the self-contained HTML report."""
