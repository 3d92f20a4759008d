"""python train.py data=DS-1.1.1 model=yolo  (Hydra: see conf/; multirun with -m)"""

import hydra

from mlflow_cv.config import JobConfig, register_configs
from mlflow_cv.training import main

register_configs()  # the typed schema conf/config.yaml starts from (job_schema): typos fail at composition


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def train(cfg: JobConfig) -> None:
    main(cfg)


if __name__ == "__main__":
    train()
