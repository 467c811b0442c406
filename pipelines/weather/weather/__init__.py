"""The Seattle weather forecast: tomorrow's maximum temperature, from the days before.

A small second pipeline beside the recommendations: the daily Seattle weather
of 2012 to 2015 (shipped inside the ``vega_datasets`` wheel) replayed onto
calendar dates, a ridge regression on the last week, a rolling-origin backtest
against persistence, a validation gate, and a forecast published once per date.
"""
