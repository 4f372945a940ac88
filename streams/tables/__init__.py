"""The faust tables a worker keeps: alarms, customers and contract ends, each with its changelog."""
