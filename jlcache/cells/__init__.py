"""The ``%%memo`` engine without IPython: cell analysis, scopes, inputs, state, pickling."""
