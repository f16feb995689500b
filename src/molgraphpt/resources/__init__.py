"""Package data of the demo: BBBP (bbbp/), ZINC molecules (zinc_demo/), ChEBI-20 pairs."""
