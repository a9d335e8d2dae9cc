"""The run layer: from a plan of (table, row, seed) units to result files.

``plan`` turns command-line choices into units, ``schedule`` runs them (in a ``pool`` of worker
processes or one by one), ``unit`` trains and evaluates one, ``ensemble`` averages members'
saved scores, ``cost`` counts GFLOPs and parameters; all three fill the one ``provenance``
record type.
"""
