"""Train an MLP on scikit-learn's 8x8 handwritten digits: a plain PyTorch script.

It knows nothing about hpotk. It takes its hyperparameters as command-line flags and logs, after
each epoch, the line SageMaker's PyTorch MNIST example logs::

    Test set: Average loss: 0.1432, Accuracy: 262/270 (97%)

which ``experiments/digits_command.yaml`` tunes with the regex ``Test set: Average loss: ([0-9.]+)``.
Run it by hand:  python experiments/scripts/train_digits.py --lr 0.05 --epochs 5
"""

import argparse
import logging
import sys

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

logger = logging.getLogger(__name__)


class Net(nn.Module):
    def __init__(self, hidden_size, num_layers, dropout):
        super().__init__()
        layers, width = [], 64
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_size
        layers.append(nn.Linear(width, 10))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return F.log_softmax(self.layers(x), dim=1)


def load_data(seed):
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y, test_size=0.15, random_state=seed, stratify=y)
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.long)  # noqa: E731
    return (torch.utils.data.TensorDataset(as_x(x_train), as_y(y_train)),
            torch.utils.data.TensorDataset(as_x(x_test), as_y(y_test)))


def train(model, loader, optimizer, epoch, log_interval):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        if batch_idx % log_interval == 0:
            seen, total = batch_idx * len(data), len(loader.dataset)
            percent = 100.0 * batch_idx / len(loader)
            logger.info(f"Train Epoch: {epoch} [{seen}/{total} ({percent:.0f}%)] "
                        f"Loss: {loss.item():.6f}")


def test(model, loader):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.argmax(dim=1).eq(target).sum().item()
    test_loss /= len(loader.dataset)
    total = len(loader.dataset)
    logger.info(f"Test set: Average loss: {test_loss:.4f}, "
                f"Accuracy: {correct}/{total} ({100.0 * correct / total:.0f}%)")


def main(argv=None):
    parser = argparse.ArgumentParser(description="MLP on the scikit-learn digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-batch-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.5)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=10,
                        help="batches between training-loss log lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")

    torch.manual_seed(args.seed)
    train_set, test_set = load_data(args.seed)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=args.test_batch_size)
    model = Net(args.hidden_size, args.num_layers, args.dropout)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    for epoch in range(1, args.epochs + 1):
        train(model, train_loader, optimizer, epoch, args.log_interval)
        test(model, test_loader)


if __name__ == "__main__":
    main()
