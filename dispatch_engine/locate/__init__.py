"""Base placement (SPEC §7): MCLP, p-median and LSCP over a demand x site travel-time matrix."""
