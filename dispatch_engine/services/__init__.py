"""Service operations (SPEC §6): value-added appointments on planned technician routes,
and the emergency supplies of the rescue depots."""
