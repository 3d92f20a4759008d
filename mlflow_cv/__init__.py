"""mlflow-cv"""
