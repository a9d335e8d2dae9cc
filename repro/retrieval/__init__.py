"""Text-to-video retrieval on frozen video features (SSAN Tables 7 and 8): the joint embedding of
Miech et al. (HowTo100M, ICCV 2019), its ranking loss, text pre-processing and R@K metrics.
Facts and sources: docs/retrieval-facts.md."""
