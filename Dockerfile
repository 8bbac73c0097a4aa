FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
RUN apt-get update && apt-get install -y --no-install-recommends gettext curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic and compilemessages need settings but no real secrets or services.
RUN SECRET_KEY=build-only-$(head -c 48 /dev/urandom | base64) DATABASE_URL=sqlite:////tmp/build.db REDIS_URL=redis://localhost \
    MAILBOX_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_') \
    ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput -v0 && \
    SECRET_KEY=build-only-$(head -c 48 /dev/urandom | base64) DATABASE_URL=sqlite:////tmp/build.db REDIS_URL=redis://localhost \
    MAILBOX_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_') \
    ALLOWED_HOSTS=localhost python manage.py compilemessages -v0
RUN useradd --create-home opvolger && mkdir -p /app/var && chown opvolger /app/var
USER opvolger
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
