"""What a room keeps: every message sent to it, so a member who joins sees the history."""

from django.db import models


class Message(models.Model):
    room = models.CharField(max_length=100)
    user = models.CharField(max_length=150)
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["room", "-id"])]

    def __str__(self):
        return f"{self.room}: {self.user}: {self.text[:40]}"

    def as_json(self):
        return {"message": self.text, "user": self.user, "created": self.created.isoformat()}
