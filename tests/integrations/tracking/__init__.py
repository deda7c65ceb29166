"""Tests of the tracking sources (aggregators, carriers, the simulated carrier) and their shared contract."""
