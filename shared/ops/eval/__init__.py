"""``baton eval``: run a suite of customer requests through the real pipeline and score it.

One module per concept: ``suite`` (the data file and its schema), ``pipeline`` (the four services
in this process), ``session`` (Redis, prefix, posting, waiting, clean-up), ``collect`` (what each
event became), ``trajectory`` (what its run-record steps say it took), ``scoring`` (one case
against its expectation), ``metrics`` (the aggregate figures), ``evaluate`` (a suite's run, end to
end), ``baseline`` (comparison with a saved run), ``shadow`` (replaying recorded traffic) and
``report`` (the tables and the JSON).
"""
