"""The model zoo: every seed architecture, official-checkpoint compatible, plus tiny variants."""
