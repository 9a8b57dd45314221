"""Self-supervised pretraining (SimCLR) on the training pool, for ``main_imp.py --init-checkpoint``: hyperparameters
(``hparams``), the two views (``views``), backbone and projection head (``model``), NT-Xent (``loss``), the step
(``step``), the kNN evaluation (``knn``) and the run (``loop``). ``pretrain_ssl.py`` is the entry point."""
