"""The reference trainings' networks, the paper's for each task, each a plain ``torch.nn.Module`` factory.

- ``mlp``: the binary task's MLP (784-500-300 on MNIST, 64-500-300 on the 8x8 digits);
- ``resnet``: ResNet-20 for CIFAR (He et al. 2016), any input channels and size;
- ``hourglass``: a 1-stack hourglass (Newell et al. 2016) of configurable depth and width;
- ``ranker``: the ltr task's item scorer, an MLP applied to every item of every query;
- ``standardize``: the input layer that turns stored uint8 images into standardised floats.
"""
