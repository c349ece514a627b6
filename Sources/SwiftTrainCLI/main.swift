print("swift-train")
